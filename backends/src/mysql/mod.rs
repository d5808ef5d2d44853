//! MySQL backend (being written).
