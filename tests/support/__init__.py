"""The tests' own code, one module per job: paths, ports, the test repository's settings, audio and speech,
tiny models, the bad-input table, checkpoint archives, the tone model, the gateway runner."""
