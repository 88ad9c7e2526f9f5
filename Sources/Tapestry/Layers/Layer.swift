/// A differentiable function with parameters: a layer, or a model built from layers.
///
/// Conform a struct (or class) that stores ``Parameter``s and other layers, and implement
/// `callAsFunction`; parameter discovery, naming, gradients, optimiser updates and checkpoints
/// need nothing else, because they find the parameters by reflection.
public protocol Layer {
  /// What the layer consumes (usually a `Tensor`).
  associatedtype Input
  /// What the layer produces.
  associatedtype Output
  /// Applies the layer.
  func callAsFunction(_ input: Input) -> Output
}
