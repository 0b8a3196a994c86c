// Filled in by the foundation work (currency exponents, decimal parsing, fees).
export {};
