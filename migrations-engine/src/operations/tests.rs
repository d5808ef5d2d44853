//! Unit tests of operations.
