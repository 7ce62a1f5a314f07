"""Clinical uploads (MedFlow `/upload/patient`, `/upload/medical`; eCureTrip `/upload`)."""
