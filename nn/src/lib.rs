//! nn: the Llama architecture, checkpoint loading, tokenizer, generation (filled by its issue).
