# make run      - install into .venv (created if missing) and serve the game on http://127.0.0.1:5000
# make test     - install, set up what the tests need from Debian, and run the test suite
# make lock     - refresh requirements.lock from pyproject.toml's ranges (see the README)
# make messages - extract the messages (babel.cfg) and update every language's .po
#
# Both install exactly requirements.lock: the versions, and the files' hashes, the suite passed
# with (the test extras included, so one lock serves both). pyproject.toml keeps its ranges for
# installing the package elsewhere. The install step runs again only when the lock or
# pyproject.toml changes (a stamp file in .venv/).
#
# Installing compiles the message catalogues (game/translations/*/LC_MESSAGES/*.po -> .mo);
# the app also compiles any that are missing or older than their .po when it starts.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   ?= .venv
VPY    := $(VENV)/bin/python
LOCK   := requirements.lock
PIP    := pip==26.3
# torch and torchvision as they lie on this machine's disk (pip takes them from there).
TORCH  := torch==2.14.1 torchvision==0.29.1
# pip-compile, in a venv of its own so that the project's pip version does not bind it.
LOCKENV := .venv-lock
PIP_TOOLS := pip-tools==7.6.2
# What the browser, PostgreSQL and cluster tests need from Debian.
SYSTEM_PACKAGES := chromium postgresql redis-server nginx

.PHONY: run test install system-packages lock messages catalogues clean

run: install
	$(VPY) -m game serve

test: install system-packages
	$(VPY) -m pytest

install: $(VENV)/.installed catalogues

catalogues: $(VENV)/.installed
	$(VPY) -m game.i18n compile

messages: $(VENV)/.installed
	$(VPY) -m game.i18n update

$(VPY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(LOCK) pyproject.toml | $(VPY)
	$(VPY) -m pip install $(PIP)
	$(VPY) -m pip install --require-hashes -r $(LOCK)
	$(VPY) -m pip install --no-deps --no-build-isolation -e .
	touch $@

# Installed where this runs as root with apt-get; anywhere else the tests that need them
# skip, each kind saying in one line what would enable it.
system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done | xargs); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's $$missing for the browser, PostgreSQL and cluster tests"; \
	  (export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq $$missing >/dev/null) \
	    || echo "apt-get could not install $$missing: the tests that need them will skip"; \
	else \
	  echo "Not installing $$missing (that needs root and apt-get): the tests that need them will skip;" \
	       "\`sudo apt-get install $$missing\` enables them"; \
	fi

# Run after changing pyproject.toml's dependencies, or to take newer releases within its ranges;
# then run `make test` and commit requirements.lock with the change.
lock: $(LOCKENV)/bin/pip-compile
	$(LOCKENV)/bin/pip-compile --upgrade --generate-hashes --extra test --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links $(foreach p,$(TORCH),--upgrade-package $(p)) \
	  --output-file $(LOCK) pyproject.toml

$(LOCKENV)/bin/pip-compile:
	$(PYTHON) -m venv $(LOCKENV)
	$(LOCKENV)/bin/pip install $(PIP_TOOLS)

clean:
	rm -f $(VENV)/.installed
