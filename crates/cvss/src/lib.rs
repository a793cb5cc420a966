//! CVSS scoring (skeleton; being written).
