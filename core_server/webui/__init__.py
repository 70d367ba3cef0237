"""The web dashboard (freqtrade-ui), built by `make run` and served at `/`."""
