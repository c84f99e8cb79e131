import type { JsonValue } from './model.js';

/**
 * The layers an architecture may use, as the Python side reads them from the installed PyTorch (every
 * `torch.nn` module class) and from the project (nn.Module subclasses in `utils/`): see
 * python/deepforge/architecture/catalog.py, which writes exactly this shape.
 */

/** What a constructor argument accepts, from its annotation (or its default when it has none). */
export type LayerArgumentType = 'int' | 'float' | 'bool' | 'str' | 'tuple' | 'list' | 'dict' | 'none' | 'any';

export interface LayerArgument {
  name: string;
  /** The kinds of JSON values it takes; `any` takes everything. */
  types: LayerArgumentType[];
  /** No default: the layer cannot be built without a value (the seeds' `<none>`). */
  required: boolean;
  /** The default as JSON, when it is one (absent for required arguments and defaults that are not JSON). */
  default?: JsonValue;
  /** The default as Python prints it (`1e-05`, `'zeros'`, `None`). */
  defaultSource?: string;
  /** The annotation as written (`_size_2_t`, `Optional[int]`), when there is one. */
  annotation?: string;
}

export interface LayerClass {
  /** How a layer names it: `Conv2d` for torch.nn, `utils.blocks.Residual` for a custom layer. */
  name: string;
  source: 'torch' | 'custom';
  /** First line of its docstring. */
  doc: string;
  arguments: LayerArgument[];
  /** It takes `**kwargs`: arguments it does not list are not errors. */
  extraArguments: boolean;
  /** How many tensors forward takes: at least `min`, at most `max` (null: any number). */
  inputs: { min: number; max: number | null };
}

/** A custom layer file that could not be read: a syntax error, an import that raised. */
export interface LayerCatalogError {
  file: string;
  message: string;
  line?: number;
}

export interface LayerCatalog {
  python: string;
  torchVersion: string;
  layers: Record<string, LayerClass>;
  errors: LayerCatalogError[];
}
