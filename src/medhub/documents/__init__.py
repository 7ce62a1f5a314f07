"""Documents: uploads, generated files and authorised downloads."""
