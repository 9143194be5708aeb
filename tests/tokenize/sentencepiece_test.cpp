// sentencepiece tokenizer.model: a tiny model trained at test time with libsentencepiece's trainer
// (the shared data has no .model file).
#include <gtest/gtest.h>
#include <sentencepiece_trainer.h>

#include <algorithm>

#include "ramq/error.h"
#include "ramq/tokenizer.h"
#include "support/temp_dir.h"
#include "tok_test_util.h"

namespace {

using namespace ramq::toktest;
namespace fs = std::filesystem;

class SentencePieceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ramq::testkit::TempDir("ramq-spm");
    const std::string text = read_bytes(kShared + "/data/tinystories_sample.txt");
    write_bytes(dir_->path() / "train.txt", text);
    const std::string args = "--input=" + (dir_->path() / "train.txt").string() +
                             " --model_prefix=" + (dir_->path() / "tokenizer").string() +
                             " --vocab_size=200 --model_type=bpe --character_coverage=1.0 --minloglevel=2";
    const auto status = sentencepiece::SentencePieceTrainer::Train(args);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static fs::path model() { return dir_->path() / "tokenizer.model"; }
  static ramq::testkit::TempDir* dir_;
};
ramq::testkit::TempDir* SentencePieceTest::dir_ = nullptr;

TEST_F(SentencePieceTest, RoundTripAndBos) {
  const auto tok = ramq::load_sentencepiece(model());
  EXPECT_EQ(tok->kind(), "sentencepiece");
  ASSERT_EQ(tok->bos_id(), 1u);  // the trainer's defaults: <unk>=0, <s>=1, </s>=2
  const std::string text = "Once upon a time, Ben saw a little dog in the park.";
  const auto plain = tok->encode(text, false);
  const auto with_bos = tok->encode(text, true);
  ASSERT_FALSE(plain.empty());
  ASSERT_EQ(with_bos.size(), plain.size() + 1);
  EXPECT_EQ(with_bos.front(), 1u);
  EXPECT_TRUE(std::equal(plain.begin(), plain.end(), with_bos.begin() + 1));
  EXPECT_LT(plain.size(), text.size() * 2 / 3);  // the merges learnt something
  EXPECT_EQ(tok->decode(plain), text);
  EXPECT_EQ(tok->decode(with_bos), text);
  for (const auto id : plain) EXPECT_LT(id, 200u);
}

TEST_F(SentencePieceTest, UnknownCharactersGiveUnk) {
  const auto tok = ramq::load_sentencepiece(model());
  const auto ids = tok->encode("the \xE2\x82\xAC dog", false);  // the euro sign is not in the training text
  EXPECT_NE(std::find(ids.begin(), ids.end(), 0u), ids.end());
  const std::string back = tok->decode(ids);
  EXPECT_NE(back.find("\xE2\x81\x87"), std::string::npos) << back;  // sentencepiece renders <unk> as U+2047
  EXPECT_TRUE(back.starts_with("the ") && back.ends_with(" dog")) << back;
  EXPECT_THROW(tok->decode(std::vector<std::uint32_t>{5000}), ramq::Error);
}

TEST_F(SentencePieceTest, LoadTokenizerPrefersTokenizerModel) {
  ramq::testkit::TempDir dir;
  fs::copy_file(model(), dir.path() / "tokenizer.model");
  fs::copy_file(kShared + "/models/stories260K/tok512.bin", dir.path() / "tok512.bin");
  EXPECT_EQ(ramq::load_tokenizer(dir.path())->kind(), "sentencepiece");
}

TEST_F(SentencePieceTest, BadModelNamesTheFile) {
  ramq::testkit::TempDir dir;
  const auto p = dir.path() / "tokenizer.model";
  write_bytes(p, "definitely not a protobuf");
  try {
    ramq::load_sentencepiece(p);
    ADD_FAILURE() << "no error";
  } catch (const ramq::Error& e) {
    EXPECT_EQ(e.file(), p.string());
  }
  EXPECT_THROW(ramq::load_sentencepiece(dir.path() / "missing.model"), ramq::Error);
}

}  // namespace
