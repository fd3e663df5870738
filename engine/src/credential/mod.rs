//! MOSIP Claim 169 credentials (owned by the credentials work stream).
