"""What an index keeps on disk: the folder and manifest, the SQLite store, the vector backends."""
