//! Tests: values.
