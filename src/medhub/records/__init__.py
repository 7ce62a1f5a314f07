"""Medical records: dated entries of a patient's history (diagnosis, allergy, lab
result, imaging, procedure, immunization, note), under `/patients/{id}/records`."""
