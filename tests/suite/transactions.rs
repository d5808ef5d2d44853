//! Tests: transactions.
