// Usage: the token counts of one generation request, as OpenAI reports them (prompt_tokens,
// completion_tokens, completion_tokens_details.reasoning_tokens). CompletionSession counts them
// (completion_session.h says how); the transports send them. A plain value type.
#ifndef R1_COORDINATOR_API_USAGE_H_
#define R1_COORDINATOR_API_USAGE_H_

#include <cstdint>

namespace r1::api {

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t reasoning_tokens = 0;
};

}  // namespace r1::api

#endif  // R1_COORDINATOR_API_USAGE_H_
