// config.json's family-dependent fields, read in one place (src/arch/family_config.h): rope
// scaling objects and the fields every family shares, with the messages the readers give.
#include <gtest/gtest.h>

#include <string>

#include "ramq/family_config.h"
#include "support/error_text.h"

namespace ramq {
namespace {

using nlohmann::json;
using testkit::error_of;

ModelConfig config_with(const std::string& model_type, const json& extra) {
  ModelConfig c;
  c.model_type = model_type;
  c.head_dim = 16;
  c.raw = extra;
  c.raw["model_type"] = model_type;
  return c;
}

TEST(FamilyConfig, RopeScalingObjects) {
  const json raw = {{"rope_parameters", {{"rope_type", "linear"}, {"factor", 4}, {"rope_theta", 1e6}}}};
  const ConfigFields f(raw, "c/config.json");
  EXPECT_FALSE(read_rope_scaling(f, "rope_scaling"));
  const auto rope = read_rope(f);  // rope_scaling absent: its successor
  ASSERT_TRUE(rope);
  EXPECT_EQ(rope->field, "rope_parameters");
  EXPECT_EQ(rope->type, "linear");
  EXPECT_EQ(rope->number(f, "factor"), 4.0);
  EXPECT_FALSE(rope->number(f, "low_freq_factor"));
  EXPECT_EQ(rope->integer("factor"), 4);
  EXPECT_EQ(error_of([&] { rope->required(f, "low_freq_factor"); }),
            "c/config.json: field 'rope_parameters.low_freq_factor' is missing (needed by rope type 'linear')");

  const json older = {{"rope_scaling", {{"type", "dynamic"}, {"factor", -2}}}};
  const ConfigFields g(older, "c/config.json");
  EXPECT_EQ(read_rope(g)->type, "dynamic");
  EXPECT_NE(error_of([&] { read_rope(g)->number(g, "factor"); }).find("'rope_scaling.factor' must be a positive number"),
            std::string::npos);
  const json untyped = {{"rope_scaling", json::object()}};
  EXPECT_EQ(read_rope(ConfigFields(untyped, "x"))->type, "default");
}

TEST(FamilyConfig, MalformedRopeScalingIsRefused) {
  const json not_object = {{"rope_scaling", "yes"}};
  EXPECT_NE(error_of([&] { read_rope(ConfigFields(not_object, "c")); }).find("'rope_scaling' must be an object or null"),
            std::string::npos);
  const json bad_type = {{"rope_scaling", {{"rope_type", 3}}}};
  EXPECT_NE(error_of([&] { read_rope(ConfigFields(bad_type, "c")); }).find("'rope_scaling.rope_type' must be a non-empty string"),
            std::string::npos);
  const json null_field = {{"rope_scaling", nullptr}};
  EXPECT_FALSE(read_rope(ConfigFields(null_field, "c")));
}

TEST(FamilyConfig, SlidingWindowFollowsTheFamilysRule) {
  const json window = {{"sliding_window", 4096}};
  const auto applies = [](const std::string& type, const json& extra) {
    const ModelConfig c = config_with(type, extra);
    return read_family_fields(ConfigFields(c.raw, "c"), c, *find_family(type)).sliding_window_applies;
  };
  EXPECT_TRUE(applies("mistral", window));
  EXPECT_FALSE(applies("qwen2", window));  // only with use_sliding_window
  EXPECT_TRUE(applies("qwen2", {{"sliding_window", 4096}, {"use_sliding_window", true}}));
  EXPECT_TRUE(applies("qwen3", {{"layer_types", {"full_attention", "sliding_attention"}}}));
  EXPECT_FALSE(applies("qwen3", {{"layer_types", {"full_attention"}}}));
  const ModelConfig c = config_with("llama", window);
  EXPECT_EQ(read_family_fields(ConfigFields(c.raw, "c"), c, *find_family("llama")).sliding_window, 4096);
}

TEST(FamilyConfig, SharedFieldsAreCheckedOnce) {
  const auto problem = [](const json& extra) {
    const ModelConfig c = config_with("llama", extra);
    return error_of([&] { read_family_fields(ConfigFields(c.raw, "m/config.json"), c, *find_family("llama")); });
  };
  EXPECT_EQ(problem({{"hidden_act", "gelu"}}), "m/config.json: field 'hidden_act' is \"gelu\": llama models use 'silu'");
  EXPECT_NE(problem({{"attention_bias", "yes"}}).find("'attention_bias' must be true or false"), std::string::npos);
  EXPECT_NE(problem({{"num_local_experts", 8}}).find("'num_local_experts' is 8: a llama model has no experts"),
            std::string::npos);
  EXPECT_NE(problem({{"sliding_window", 0}}).find("'sliding_window' must be a positive integer or null"),
            std::string::npos);
  EXPECT_NE(problem({{"partial_rotary_factor", 0.5}}).find("'partial_rotary_factor'"), std::string::npos);
  EXPECT_EQ(problem({{"hidden_act", "silu"}, {"attention_bias", true}}), "(no ramq::Error)");
  ModelConfig odd = config_with("qwen3", json::object());
  odd.head_dim = 15;
  EXPECT_NE(error_of([&] { read_family_fields(ConfigFields(odd.raw, "c"), odd, *find_family("qwen3")); })
                .find("'head_dim' is 15"),
            std::string::npos);
  const ModelConfig biased = config_with("qwen2", {{"attention_bias", true}, {"mlp_bias", false}});
  const FamilyFields f = read_family_fields(ConfigFields(biased.raw, "c"), biased, *find_family("qwen2"));
  EXPECT_TRUE(f.attention_bias);
  EXPECT_FALSE(f.mlp_bias);
}

}  // namespace
}  // namespace ramq
