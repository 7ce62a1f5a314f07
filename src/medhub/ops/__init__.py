"""Running the platform rather than serving a domain: where the database comes from
(the embedded server or a cluster), its roles, and the schema migrations."""
