# The C SDK's own tests: tests/unit/sdk/<name>_test.c compile SDK sources natively (the
# allocator over a simulated linear memory) and run with the other unit tests.

UNIT_SDK := $(patsubst %.c,$(B)/%,$(wildcard tests/unit/sdk/*_test.c))
$(UNIT_SDK): $(B)/tests/unit/sdk/%: $(B)/obj/tests/unit/sdk/%.o $(T_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
UNIT_TESTS += $(UNIT_SDK)
