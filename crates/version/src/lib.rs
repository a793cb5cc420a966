//! Version ordering per ecosystem (skeleton; being written).
