"""Consultations: the encounter (MedConnect "medical visits", eCureTrip
"consultations"), usually opened from an appointment, with its video room."""
