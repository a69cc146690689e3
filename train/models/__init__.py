"""Head-pose models: ``create_model(name, **cfg)``, ``list_models()``; see ``registry``."""
from .base import ModelError, ModelInputError, PoseModel
from .registry import create_model, get_recipe, list_models, register_model
from .spec import InputSpec, Recipe

__all__ = ["ModelError", "ModelInputError", "PoseModel", "InputSpec", "Recipe",
           "create_model", "get_recipe", "list_models", "register_model"]
