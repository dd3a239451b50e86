//! Cross-crate tests against the outside references in `../shared/fixtures`.
