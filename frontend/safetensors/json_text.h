// JSON parsing for the safetensors header, its index and HF config.json:
// errors as one line naming the place and the line/column, and a key given
// twice in one object is an error (nlohmann would silently keep the last).
// Private to frontend/: nlohmann is not part of gamma_frontend's interface.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace gm::safetensors {

// Throws InputError "where: ..." on a syntax error or a duplicate key.
nlohmann::json parseJson(std::string_view text, const std::string &where);

} // namespace gm::safetensors
