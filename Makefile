# `make demo`: on a fresh clone, install, train MobileViT-XXS on the embedded digits dataset,
# export it to SavedModel and TFLite (float32, int8) and print the Keras-vs-TFLite table.
PYTHON ?= python
DEMO_DIR ?= outputs/demo

.PHONY: demo demo-train install-train

install-train:
	$(PYTHON) -m pip install -e ".[train,tflite]"

demo: install-train demo-train

# Re-running resumes an interrupted run (or just re-evaluates and re-exports a finished one).
demo-train:
	keras-vit train --recipe mobilevit_digits --output $(DEMO_DIR) --export --verbose 2
	@echo "Everything is in $(DEMO_DIR)/ (model.keras, metrics.json, *.png, saved_model/, *.tflite)"
