# `make demo`: on a fresh clone, install, train the default small-data recipe on the embedded
# digits dataset (the same run as `keras-vit train --data digits --output DIR`), export it to
# SavedModel and TFLite (float32, int8) and print the Keras-vs-TFLite table.
# Make and activate a virtual environment first (see the README): this pip-installs into
# whatever Python is active.
PYTHON ?= python
DEMO_DIR ?= outputs/demo

.PHONY: demo demo-train install-train check-venv

check-venv:
	@$(PYTHON) -c "import sys; sys.prefix == sys.base_prefix and print('note: no virtual environment is active; pip installs into', sys.prefix)"

install-train: check-venv
	$(PYTHON) -m pip install -e ".[train,tflite]"

demo: install-train demo-train

# Re-running resumes an interrupted run (or just re-evaluates and re-exports a finished one).
demo-train:
	keras-vit train --data digits --output $(DEMO_DIR) --export
	@echo "Everything is in $(DEMO_DIR)/ (model.keras, metrics.json, *.png, saved_model/, *.tflite)"
