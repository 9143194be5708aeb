// write, GGUF: a model directory's chat templates as llama.cpp's converter finds them, and the
// tokenizer.chat_template* key/values it writes for them (src/write/gguf_chat_template.cpp).
#pragma once

#include <vector>

#include "ramq/chat_template.h"
#include "ramq/gguf.h"

namespace ramq {

// tokenizer.chat_template, tokenizer.chat_template.<name> and the tokenizer.chat_templates list
// of names; nothing for a model without templates.
void append_chat_template_kvs(const ChatTemplates& templates, std::vector<GgufKV>& kvs);

}  // namespace ramq
