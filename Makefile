# depthnet_nano_ros developer entry points. Quick start: `make demo`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
BUILD := $(CURDIR)/build
export AMENT_PREFIX_PATH := $(VENV)$(if $(AMENT_PREFIX_PATH),:$(AMENT_PREFIX_PATH),)
export PYTHONUNBUFFERED := 1
# The ROS 2 launch / CLI tools (`ros2 launch|run|topic|param`), from ../shared when it is there.
ROS2_TOOLS ?= $(CURDIR)/../shared/ros2_tools
DEMO_OUT ?= $(CURDIR)/demo_out
PYTEST_ARGS ?=

.PHONY: venv install ros2-tools test lint demo clean images gpu-check

venv: $(VENV)/.deps-stamp

$(VENV)/.deps-stamp: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# Build messages and install the package into the venv (symlinked Python, launch and config).
# The optional fused CPU kernels need onnxruntime's C++ headers (not in the pip wheel): fetched
# once into build/ortdev from Debian trixie's libonnxruntime-dev; any failure only skips them.
install: venv
	@mkdir -p $(BUILD)
	@ORT_INC=$$(scripts/fetch_ort_headers.sh $(BUILD)/ortdev $(BUILD)/apt 2>$(BUILD)/ortdev.log) \
	  || { echo "CPU kernels skipped: cannot fetch onnxruntime headers ($$(tail -n1 $(BUILD)/ortdev.log))"; \
	       ORT_INC=; }; \
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(VENV) -DPython3_EXECUTABLE=$(PY) \
	  -DDEPTHNET_PYTHON=$(PY) -DDEPTHNET_INSTALL_BIN=ON -DAMENT_CMAKE_SYMLINK_INSTALL=ON \
	  -DONNXRUNTIME_INCLUDE_DIR="$$ORT_INC" \
	  -DBUILD_TESTING=OFF > $(BUILD).log 2>&1 || (cat $(BUILD).log; exit 1)
	cmake --build $(BUILD) -j2 >> $(BUILD).log 2>&1 || (cat $(BUILD).log; exit 1)
	cd $(BUILD) && cmake --install . >> $(BUILD).log 2>&1 || (cat $(BUILD).log; exit 1)
	@echo "installed depthnet_nano_ros into $(VENV) (log: $(BUILD).log)"

# install.sh keeps its own stamp in the venv (reinstalls only when ../shared's VERSION changes).
ros2-tools: install
	@if [ -x $(ROS2_TOOLS)/install.sh ]; then $(ROS2_TOOLS)/install.sh $(VENV); \
	else echo "ros2 launch/CLI not installed: $(ROS2_TOOLS) is absent (tests needing it skip)"; fi

# No DDS variables are exported: the tests check the defaults a user gets. test/conftest.py
# gives the test session its own ROS_DOMAIN_ID (and LOCALHOST discovery for its own harness).
test: install ros2-tools
	cd test && $(PY) -m pytest -ra $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check depthnet_nano_ros test launch scripts

# make demo [KITTI=/path/to/2011_09_26 DRIVE=0005] [CHECKPOINT=model.pt] [FRAMES=40]
demo: install
	$(PY) -m depthnet_nano_ros.demo --output $(DEMO_OUT) $(if $(KITTI),--kitti $(KITTI),) \
	  $(if $(DRIVE),--drive $(DRIVE),) $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT),) \
	  $(if $(FRAMES),--frames $(FRAMES),)

# The README's pictures (docs/images/), from KITTI sample frame 0 and the reference checkpoint.
images: install
	$(PY) -m depthnet_nano_ros.demo --readme-images docs/images

# GPU latency check (needs CUDA; no install: runs from the checkout). GPU_JSON=gpu_check.json
gpu-check:
	scripts/gpu_check.sh --output $(or $(GPU_JSON),gpu_check.json) $(GPU_CHECK_ARGS)

clean:
	rm -rf $(BUILD) $(BUILD).log
