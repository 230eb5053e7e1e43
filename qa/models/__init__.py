"""Model seams and runtimes: embedders (ONNX, torch), generators (llama.cpp, HTTP), the catalog."""
