// A SIP message as JSON, for operators (sipshield-inspect --message) and tests: the verdict,
// and every field the tokenizer found, by name.
#pragma once

#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "sip/message.hpp"

namespace sipshield {

nlohmann::json sip_message_json(std::string_view payload, const SipMessage& message,
                                const SipVerdict& verdict);

}  // namespace sipshield
