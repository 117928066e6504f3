//! The fuzz targets' checks (see `targets.rs`), shared with the stable replay test.

pub mod targets;
