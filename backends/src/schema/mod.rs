//! Neutral schema description.
