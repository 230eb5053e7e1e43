"""Files into the store: readers, chunking, syndicated copies, the pipeline and its Ray variant."""
