//! NIK parsing and validation (owned by the NIK work stream).
