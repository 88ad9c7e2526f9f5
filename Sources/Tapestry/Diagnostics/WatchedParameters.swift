/// Runs `body` recording on `tape`, with every trainable parameter of `model` watched on it (so
/// that everything computed from them is recorded), and puts the parameters' values back after.
///
/// The diagnostics that drive the tape themselves (several backward passes, or a drawing of the
/// whole graph) need the tape in hand, which ``valueWithGradient(at:of:)`` does not give out.
func withParametersWatched<Scalar, Result>(
  of model: Any, on tape: Tape<Scalar>, _ body: () -> Result
) -> Result {
  let trainable = trainableParameters(of: model, as: Scalar.self)
  let originals = trainable.map(\.parameter.value)
  defer { for (named, original) in zip(trainable, originals) { named.parameter.value = original } }
  return tape.record {
    for named in trainable { named.parameter.value = tape.watch(named.parameter.value) }
    return body()
  }
}
