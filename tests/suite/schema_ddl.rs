//! Tests: schema_ddl.
