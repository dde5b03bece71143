# Two commands set up everything on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
PIP   := $(VENV)/bin/pip
KANMIN := $(VENV)/bin/kanmin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
# Install stamp: re-install only when the dependency declarations change.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-12)
APT_PACKAGES := chromium fonts-ipafont-gothic fonts-noto-color-emoji
# Servers for the cluster test (tests/test_cluster.py) and the bench's load generator (wrk), as
# program=package: installed only when the program is missing, so an nginx, Redis or PostgreSQL
# already there (any flavour) is used as is.
APT_SERVERS := nginx=nginx-light redis-server=redis-server initdb=postgresql wrk=wrk

.PHONY: install run test index eval bench apt clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: the CPU build on local disk (unpinned, a CUDA build is pulled).
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -c constraints.txt -e ".[st,llm,dev,pg,redis]"
	@rm -f $(VENV)/.installed-*
	@touch $@

# apt packages for the browser and cluster tests, skipped when already present.
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	for s in $(APT_SERVERS); do prog=$${s%%=*}; \
	  PATH="$$PATH:/usr/sbin:/usr/local/bin" command -v $$prog >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/$$prog" >/dev/null \
	    || missing="$$missing $${s#*=}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

index: install
	$(KANMIN) build --if-stale

run: index
	$(KANMIN) serve

# PYTEST_ARGS: e.g. `make test PYTEST_ARGS=--random-order`
test: install apt
	$(PY) -m pytest -q $(PYTEST_ARGS)

eval: index
	$(KANMIN) eval --compare bm25,dense,hybrid,naive

bench: index apt
	$(KANMIN) bench

clean:
	rm -rf data/index data/cache
