#include "api/common/token_json.h"

#include <nlohmann/json.hpp>

#include "api/common/json_writer.h"
#include "security/token.h"

namespace mlos::api {
namespace {

using nlohmann::json;

void WriteTime(JsonWriter& w, const char* key, int64_t ms) {
  w.Key(key);
  if (ms > 0) {
    w.String(security::FormatUnixMs(ms));
  } else {
    w.Null();
  }
}

void WriteToken(JsonWriter& w, const security::TokenRecord& r, std::string_view token) {
  w.BeginObject();
  if (!token.empty()) {
    w.Key("token");
    w.String(token);
  }
  w.Key("name");
  w.String(r.name);
  w.Key("role");
  w.String(security::RoleName(r.role));
  w.Key("models");
  w.BeginArray();
  for (const std::string& m : r.models) w.String(m);
  w.EndArray();
  WriteTime(w, "created_at", r.created_at_ms);
  WriteTime(w, "expires_at", r.expires_at_ms);
  WriteTime(w, "last_used_at", r.last_used_at_ms);
  WriteTime(w, "revoked_at", r.revoked_at_ms);
  w.EndObject();
}

Status StringField(const json& doc, const char* field, bool required, std::string& out) {
  auto it = doc.find(field);
  if (it == doc.end() || it->is_null()) {
    return required ? InvalidArgument(std::string("field '") + field + "' is required")
                    : Status::Ok();
  }
  if (!it->is_string()) {
    return InvalidArgument(std::string("field '") + field + "' must be a string, got " +
                           it->type_name());
  }
  out = it->get<std::string>();
  return Status::Ok();
}

}  // namespace

Result<TokenRequest> ParseTokenRequest(std::string_view body) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument("malformed JSON in the token request");
  if (!doc.is_object()) return InvalidArgument("the token request must be a JSON object");
  TokenRequest r;
  MLOS_RETURN_IF_ERROR(StringField(doc, "name", true, r.name));
  MLOS_RETURN_IF_ERROR(StringField(doc, "role", true, r.role));
  MLOS_RETURN_IF_ERROR(StringField(doc, "expires", false, r.expires));
  if (auto it = doc.find("models"); it != doc.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgument("field 'models' must be an array of patterns");
    for (size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string()) {
        return InvalidArgument("field 'models[" + std::to_string(i) + "]' must be a string");
      }
      r.models.push_back((*it)[i].get<std::string>());
    }
  }
  return r;
}

void EncodeToken(const security::TokenRecord& record, std::string_view token, std::string& out) {
  JsonWriter w(out);
  WriteToken(w, record, token);
}

void EncodeTokenList(const std::vector<security::TokenRecord>& records, std::string& out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("tokens");
  w.BeginArray();
  for (const security::TokenRecord& r : records) WriteToken(w, r, {});
  w.EndArray();
  w.EndObject();
}

}  // namespace mlos::api
