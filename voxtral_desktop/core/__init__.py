"""Everything that is not Qt: settings, audio, chunking, the model and its back-ends. Never imports Qt."""
