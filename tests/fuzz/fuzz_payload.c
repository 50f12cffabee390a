/*
 * fuzz_payload.c: herald_check_payload() on any bytes.  An accepted
 * payload must parse as a JSON object or array, once any number past the
 * range of a double, which jansson rejects and jsonb keeps, reads 0.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "herald.h"
#include "fuzz.h"
#include "util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct herald_error	 error;
	json_t			*value;
	char			*text = fuzz_string(data, size);

	if (herald_check_payload(text, 4096, &error) == 0) {
		hd_json_zero_numbers(text, strlen(text));
		value = json_loads(text, JSON_DECODE_INT_AS_REAL, NULL);
		if (!json_is_object(value) && !json_is_array(value))
			abort();
		json_decref(value);
	} else if (error.message[0] == '\0')
		abort();
	free(text);
	return 0;
}
