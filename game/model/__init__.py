"""The doodle model at serving time: ink to bitmap (`ink`), the ONNX classifier
(`classifier`), its own process (`process`) and CPUs (`cpus`), the micro-batcher
(`batcher`) and the runtime one app shares (`service`). Torch-free: training
(`training/`) writes the model file this serves."""
