import { createFunction } from '#shared/fc/app';
import { spec } from './spec.ts';

export const handler = createFunction(spec);
