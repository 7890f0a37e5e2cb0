# The nested QEMU test (included by the top Makefile): the test suite inside a
# TCG guest whose KVM uses AMD nested paging, then shadow paging.
# It installs its own Debian packages (tests/nested/deps.sh). `make test` runs
# the same suite through tests/run-all.sh.
nested-test: $(BUILD)/beyond test-guests
	BEYOND=$(CURDIR)/$(BUILD)/beyond bash tests/nested/suite_nested.sh

.PHONY: nested-test
