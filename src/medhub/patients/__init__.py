"""Patient charts (MedFlow `/patients`, MedConnect `/doctors/patients`), their linking
to patient accounts, and the patient's own profile (`/patients/profile`)."""
