import { globalBudgetContract, limiterContract } from '../support/limiter-contract.ts';
import { MemoryLimiter } from '#shared/limits/memory';

limiterContract('in-memory', () => new MemoryLimiter());
globalBudgetContract('in-memory', () => new MemoryLimiter());
