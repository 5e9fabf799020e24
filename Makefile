# make run      - install into .venv (created if missing) and serve the game on http://127.0.0.1:5000
# make test     - install with the test extras and run the test suite
# make messages - extract the messages (babel.cfg) and update every language's .po
#
# Installing compiles the message catalogues (game/translations/*/LC_MESSAGES/*.po -> .mo);
# the app also compiles any that are missing or older than their .po when it starts.
# The install step runs again only when pyproject.toml changes (stamp files in .venv/).

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   ?= .venv
VPY    := $(VENV)/bin/python
# Pinned explicitly first so pip takes them from this machine's disk.
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: run test install install-test messages catalogues clean

run: $(VENV)/.installed-run catalogues
	$(VPY) -m game serve

test: $(VENV)/.installed-test catalogues
	$(VPY) -m pytest

install: $(VENV)/.installed-run catalogues
install-test: $(VENV)/.installed-test catalogues

catalogues:
	$(VPY) -m game.i18n compile

messages: $(VENV)/.installed-run
	$(VPY) -m game.i18n update

$(VPY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(VPY)
	$(VPY) -m pip install --upgrade pip
	$(VPY) -m pip install $(TORCH)
	$(VPY) -m pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VPY)
	$(VPY) -m pip install --upgrade pip
	$(VPY) -m pip install $(TORCH)
	$(VPY) -m pip install -e '.[test]'
	touch $@

clean:
	rm -f $(VENV)/.installed-run $(VENV)/.installed-test
