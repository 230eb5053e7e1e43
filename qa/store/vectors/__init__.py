"""Vector backends behind one seam: the index folder's FAISS file, and Milvus."""
