extension Tape {
  /// The tape position of `tensor` when it is recorded on this tape, else `nil`.
  ///
  /// Read from the tensor's own link to its entry rather than through the tape's lookup, whose
  /// form belongs to the engine and changes with it; the diagnostics need only this answer.
  func recordedPosition(of tensor: Tensor<Scalar>) -> Int? {
    guard let node = tensor.node, node.tapeID == id else { return nil }
    return node.index
  }
}
