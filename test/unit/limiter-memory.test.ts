import { MemoryLimiter } from '#shared/limiter/memory';
import { globalBudgetContract, limiterContract } from '../support/limiter-contract.ts';

limiterContract('in-memory', () => new MemoryLimiter());
globalBudgetContract('in-memory', () => new MemoryLimiter());
