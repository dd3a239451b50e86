//! A real model from a real GGUF file: SmolLM2-135M-Instruct (Llama architecture, Q4_1
//! and Q8_0 tensors, GPT-2 style BPE tokenizer rebuilt from the file's metadata).

use lawcat_tests::smollm2;
use nn::generate::{generate, GenerateOptions};

#[test]
fn smollm2_knows_the_capital_of_france() {
    let loaded = nn::load_model(&smollm2()).unwrap();
    let (model, tok) = (loaded.model, loaded.tokenizer.unwrap());
    let c = &model.config;
    assert_eq!(
        (
            c.num_hidden_layers,
            c.hidden_size,
            c.num_attention_heads,
            c.num_key_value_heads,
            c.vocab_size
        ),
        (30, 576, 9, 3, 49152)
    );
    assert!(c.tie_word_embeddings);
    let prompt = tok.encode("The capital of France is", false).unwrap();
    assert_eq!(prompt, vec![504, 3575, 282, 4649, 314]);
    let pk = tok.encode("The pass key is 71432. Remember it.", false).unwrap();
    assert_eq!(pk, vec![504, 1301, 1646, 314, 216, 39, 33, 36, 35, 34, 30, 5258, 357, 30]);
    let g =
        generate(&model, &[prompt], &GenerateOptions { max_new_tokens: 2, ..Default::default() })
            .unwrap();
    assert_eq!(g.tokens[0][0], 7042, "first greedy token should be \" Paris\"");
    assert_eq!(tok.decode(&g.tokens[0], false).unwrap(), " Paris.");
}
