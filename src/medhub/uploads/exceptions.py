"""What can go wrong with clinical uploads, as errors the client can branch on."""

from __future__ import annotations

from medhub.kit.errors import (
    ErrorDetail,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationFailed,
)


class UploadNotFound(NotFound):
    # The same answer for a file that does not exist and for one the caller may not
    # see (another organization's, another person's): existence is not confirmed.
    default_message = "File not found"


class RecordNotOfChart(ValidationFailed):
    default_message = "The medical record is not one of this patient's"

    def __init__(self) -> None:
        super().__init__(
            details=[ErrorDetail(field="record_id", message="not a medical record of this chart")]
        )


class UploadNotDeletable(PermissionDenied):
    default_message = (
        "Only who uploaded the file, or the staff who may change this chart, may delete it"
    )


class ManagedThroughUploads(PermissionDenied):
    default_message = (
        "Patients' documents, medical files and personal documents are uploaded through"
        " POST /api/v1/upload, /upload/patient or /upload/medical and deleted through"
        " DELETE /api/v1/upload/{id}"
    )


class UnreadableImage(UnsupportedMediaType):
    default_message = "The image could not be read: the file is damaged or not really an image"


class ImageTooLarge(PayloadTooLarge):
    def __init__(self, max_pixels: int) -> None:
        super().__init__(f"The image has more than {max_pixels} pixels")
